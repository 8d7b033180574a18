import { createRouter, createWebHistory } from 'vue-router'

// One app, three front ends. Each page is its own chunk, so the mobile app does not load the map
// library of the wall. The Go server answers /wall, /console and /m (and anything below them) with
// index.html; the router picks the page.
export const router = createRouter({
  history: createWebHistory('/'),
  routes: [
    { path: '/', redirect: '/wall' },
    { path: '/wall', component: () => import('./wall/WallPage.vue'), meta: { title: '城市运行管理中心 · 大屏' } },
    {
      path: '/console/:rest(.*)*',
      component: () => import('./pages/UnderConstruction.vue'),
      props: { name: '调度工作台' },
      meta: { title: '调度工作台' },
    },
    {
      path: '/m/:rest(.*)*',
      component: () => import('./pages/UnderConstruction.vue'),
      props: { name: '网格员移动端' },
      meta: { title: '网格员移动端' },
    },
    { path: '/:rest(.*)*', component: () => import('./pages/NotFound.vue'), meta: { title: '页面不存在' } },
  ],
})

router.afterEach((to) => {
  const t = typeof to.meta.title === 'string' ? to.meta.title : ''
  document.title = t ? `${t} · 城市大脑 IOC` : '城市大脑 IOC'
})
